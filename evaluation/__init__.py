"""Evaluation: indicators, rankings, refined-management and platform scores for districts, departments and people."""
