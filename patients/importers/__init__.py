"""Importers of clinical tables, and the run record every importer of the biobank keeps."""
