"""Platform adapters: the only place platform libraries (discord, telegram) are imported."""
