"""One reader per real source format. Each yields plain records; nothing here knows whether a
dump came from the miniature world or from the real site."""
