"""The numpy reference implementations of every curriculum name (CURRICULUM.md is the contract)."""
