"""promptshelf: a versioned prompt registry for AI agents, served over MCP."""

__version__ = "0.1.0"
