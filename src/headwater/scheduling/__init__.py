"""Time: the clock every component reads, and the data intervals of schedules."""
