"""HTTP protocol adapters: parse and validate requests, render responses."""
