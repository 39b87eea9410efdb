// CordPipeline
