"""App out: render the conf files (Jinja), write them atomically, package the .spl, inspect it with AppInspect."""
