"""Prompts outside a store: ``copying`` moves prompts with their history between stores, ``prompt_files``
is the file format, ``file_sync`` exports a store to files and imports them back."""
