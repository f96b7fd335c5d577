"""CNN Playground: a from-scratch NumPy CNN engine."""
