"""bot/incidents"""
