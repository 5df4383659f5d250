"""The launch calendar: dated phases, the first week's daily checks and reminders, posted on their days."""
