"""bot/checklist"""
