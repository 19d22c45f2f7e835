"""qa: answer questions about a folder of documents with quoted source passages only."""
