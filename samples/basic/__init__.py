"""The neffos README example: ask the server whether a date is a workday; errors and a `notify` event."""
