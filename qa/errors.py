"""Domain exceptions of the core. Adapters (CLI, web) map them to exit codes or HTTP statuses."""


class QAError(Exception):
    """Base class: a problem the user can fix, with a message that says how."""


class SettingsError(QAError):
    """An unknown or malformed setting (flag or QA_* variable)."""


class QuestionError(QAError):
    """The question is empty, too long or otherwise unusable."""


class NoDocumentsError(QAError):
    """The documents folder is missing (an empty one is an empty index)."""


class DocumentsFolderError(QAError):
    """The documents folder given is not the one the index was built from (or is unknown)."""


class IndexMissingError(QAError):
    """There is no index yet at the configured location."""


class IndexCorruptError(QAError):
    """The index exists but cannot be used (missing files, damage, other model, other format)."""


class IndexWriteError(QAError):
    """A new index version could not be written (disk full, no permission); the old one serves."""


class StoreUnavailableError(QAError):
    """The store the index lives in (a Milvus server, QA_STORE) cannot be reached in time."""


class IndexBusyError(QAError):
    """Another build holds the index lock."""


class ModelError(QAError):
    """The embedding model cannot be found or loaded offline."""


class DocumentNotFoundError(QAError):
    """A document id that is not part of the index."""


class PageDrawError(QAError):
    """A PDF page cannot be drawn within the time and memory a page may take."""


class ClusterError(QAError):
    """A build on a Ray cluster cannot start or finish (`qa index --ray`); the old index serves."""


class FeedbackError(QAError):
    """The feedback file cannot be written or read (permissions, disk full, damage)."""


class UploadError(QAError):
    """A file cannot be added to (or removed from) the documents folder: bad name or type,
    unreadable content, or the folder cannot be written."""


class UnreadableUploadError(UploadError):
    """An uploaded file that cannot be read, or whose reading broke a limit (QA_READ_*)."""


class UploadTooLargeError(UploadError):
    """An uploaded file is over QA_MAX_UPLOAD_BYTES."""


class DocumentExistsError(QAError):
    """A file of that name is already in the documents folder (and replacing was not asked)."""


class NameConflictError(DocumentExistsError):
    """The name cannot be used beside what the folder holds: a folder part is a file, or it
    looks like (differs only by look-alike characters from) a name already there."""


class SessionError(QAError):
    """The admin session file cannot be written or read (permissions, disk full, damage)."""
