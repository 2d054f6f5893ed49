"""calllog_pipeline: Voice-AI call logs from several providers into one clean dataset."""
