// The config library grows with the stream pipeline (settings file, per-country policies).
