"""Static files named by content hash and compressed, once collectstatic has run."""

from __future__ import annotations

from whitenoise.storage import CompressedManifestStaticFilesStorage


class CollectedStaticFilesStorage(CompressedManifestStaticFilesStorage):
    """WhiteNoise's compressed, hashed storage that works before collectstatic too.

    collectstatic writes each file under a name holding its content hash, with gzip
    and Brotli copies, and a manifest of the names: WhiteNoise then serves them
    compressed and cached for ten years. Without a manifest (a server started with
    DEBUG off but no collectstatic, as the load test and the fault tests do), pages
    link the files by their own names, which WhiteNoise serves from the apps'
    folders (WHITENOISE_USE_FINDERS), uncompressed and cached for 60 s.

    A file missing from the manifest (added by an upgrade after the last
    collectstatic) is linked by its own name too: refused, every page linking it
    answered 500.
    """

    def stored_name(self, name: str) -> str:
        try:
            return super().stored_name(name)
        except ValueError:  # not in the manifest, or no manifest yet
            return name
