-- The components SBOM documents list, kept once per document: a document's components are a
-- function of its bytes, so the first complete write of a document stands and artifacts share
-- it. An artifact's current components are those of the documents in its latest collection
-- (the evidence table, joined on evidence_id). A document lists a (name, version, purl) once.
CREATE TABLE IF NOT EXISTS sbom_components (
    sbom     TEXT    NOT NULL, -- the evidence ID of the document
    name     TEXT    NOT NULL,
    version  TEXT    NOT NULL,
    purl     TEXT    NOT NULL,
    position INTEGER NOT NULL, -- in the document's list, for reading a document back in order
    type     TEXT    NOT NULL,
    licenses TEXT    NOT NULL, -- JSON array of strings
    PRIMARY KEY (sbom, name, version, purl)
) STRICT;
CREATE INDEX IF NOT EXISTS sbom_components_by_purl ON sbom_components (purl);
CREATE INDEX IF NOT EXISTS sbom_components_by_name ON sbom_components (name, version);
