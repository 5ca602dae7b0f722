"""Importers of imaging data: DICOM folders and archives, de-identified on the way in."""
