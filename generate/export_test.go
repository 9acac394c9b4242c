package generate

// CacheSize is how many entries and names c holds, for tests that check
// it forgets what is gone.
func CacheSize(c *Cache) (entries, names int) { return len(c.entries), len(c.names) }
