"""bot/audit"""
