# The promptshelf server image used by compose.yaml (README, "Team server").
FROM python:3.12-slim
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install --no-cache-dir . && rm -rf /src
WORKDIR /
USER nobody
EXPOSE 8000
CMD ["promptshelf", "serve", "--transport", "http", "--host", "0.0.0.0", "--port", "8000"]
