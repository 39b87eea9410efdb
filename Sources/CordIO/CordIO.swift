// CordIO
