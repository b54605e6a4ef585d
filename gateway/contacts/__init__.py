"""Contacts: invites, the contact book, and v3 onion client authorization keys."""
