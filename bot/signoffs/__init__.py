"""bot/signoffs"""
