"""Online visitors: a live count of the viewers of each page, pushed to every viewer."""
