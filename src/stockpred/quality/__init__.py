"""Data quality: validation, cleaning and checks of incoming data. Pure: frames in, frames out."""
