"""Fleet Software Manager: catalog, versions and artifacts, installations, staged roll-outs."""
