"""Item bank formats: CSV (+ bank.json package), Moodle GIFT, QTI 2.1. Each module has ``read(path) -> BankData``
and ``write(data, path)``; errors are :class:`~lti_tool.services.item_formats.common.ItemImportError`."""
