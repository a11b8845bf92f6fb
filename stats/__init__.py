"""Statistics (考核): indicators from the event log, chart tables for the clearance page, exports."""
