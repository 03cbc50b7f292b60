"""The decision core: profile + context + config in, slot decisions out. Sans-I/O."""
