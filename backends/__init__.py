"""gemmbench's built-in backends, one module each; installed as gemmbench.backends."""
