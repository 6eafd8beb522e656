"""A local CollaborateMD Web API: the two report calls, Base64 ZIP payloads, fault injection.

See ``README.md`` in this folder for the wire shapes the emulator chose and its admin interface.
"""
