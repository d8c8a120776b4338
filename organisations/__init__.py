"""The city's organisation tree, its people, their roles in units, and what each person may see."""
