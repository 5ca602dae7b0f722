"""Cross-omic cohort logic: imaging studies paired with blood draws in time."""
