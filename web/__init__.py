"""Web adapter: the chat page, the document views and the JSON API over `qa.engine.Engine`."""
