"""Library code behind the SyncNet scripts: media I/O, layout, tracking, cropping, scoring."""
