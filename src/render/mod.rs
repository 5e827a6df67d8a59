//! Turns a display-frame image slice into 8-bit PNG bytes (CT windows or percentile scaling).
//! The only module that imports `image`/`png`.
