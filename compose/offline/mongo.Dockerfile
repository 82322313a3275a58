# Stand-in for mongo:7 (no registry here, no MongoDB in Debian): SecantusDB, a MongoDB
# wire-protocol server, on 0.0.0.0:27017.
FROM python:3.12-slim-bookworm
RUN pip install --no-cache-dir "secantusdb==0.7.0b3" pymongo
CMD ["python", "-c", "from secantus import SecantusDBServer as S; s = S(host='0.0.0.0', port=27017, storage_path='/tmp/db', replica_set_name=None); s.start(); print('secantusdb on 27017', flush=True); s.wait()"]
