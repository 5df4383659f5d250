"""bot/launch"""
