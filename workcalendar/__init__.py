"""The working calendar: working days, public holidays, make-up working days and hours, and working-time arithmetic."""
