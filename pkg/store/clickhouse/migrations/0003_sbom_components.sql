-- SBOM components. A document's components are a function of its bytes: they are written once
-- per document (evidence ID), before the sbom_documents row that says they are complete, and
-- shared by every artifact whose evidence set holds the document. A document lists a (name,
-- version, purl) once. Component search reads one of two copies, each ordered for its lookup:
-- by name and version, or by purl (components with a purl only). Tables read by key lookups
-- index every 1024 rows rather than 8192, so that a lookup reads fewer rows.
CREATE TABLE IF NOT EXISTS sbom_components (
    name     String,
    version  String,
    purl     String,
    sbom     String, -- the evidence ID of the document
    position UInt32, -- in the document's list
    type     String,
    licenses Array(String)
) ENGINE = ReplacingMergeTree
ORDER BY (name, version, purl, sbom)
SETTINGS index_granularity = 1024;

CREATE TABLE IF NOT EXISTS sbom_components_by_purl (
    purl     String,
    name     String,
    version  String,
    sbom     String,
    position UInt32,
    type     String,
    licenses Array(String)
) ENGINE = ReplacingMergeTree
ORDER BY (purl, name, version, sbom)
SETTINGS index_granularity = 1024;

-- One row per document whose components are all written.
CREATE TABLE IF NOT EXISTS sbom_documents (
    sbom       String,
    components UInt32,
    written_at DateTime
) ENGINE = ReplacingMergeTree
ORDER BY sbom;

-- Which artifacts' collections hold a document: per (document, digest), the newest collection
-- (its version, collected_at in Unix nanoseconds) that did. The document is in the artifact's
-- latest evidence set when that equals the newest version of the artifacts row.
CREATE TABLE IF NOT EXISTS artifact_documents (
    document String,
    digest   String,
    version  UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY (document, digest)
SETTINGS index_granularity = 1024;

-- Collections written before this migration. Running it again inserts the same rows, which
-- collapse.
INSERT INTO artifact_documents (document, digest, version)
SELECT evidence_id, digest, max(version) FROM evidence GROUP BY evidence_id, digest;
