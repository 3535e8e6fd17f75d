"""One module per fault kind; `faults.registry` maps their names to them."""
