"""Domain rules: who is who, tickets and their life cycle, assignment,
deadlines, roster import, figures. No HTTP in here."""
