"""Importers of liquid-biopsy results: CTC counts, cfDNA variant tables, MAF and VCF files."""
