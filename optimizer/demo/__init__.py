"""The embedded demo: a Batch estate on a local AWS emulator, real history, the whole pipeline."""
