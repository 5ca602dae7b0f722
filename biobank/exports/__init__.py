"""What leaves the biobank: date modes of exports and the log of every export."""
