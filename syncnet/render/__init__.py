"""What a person reads or looks at: the printed reports, plots and run_visualise's videos."""
