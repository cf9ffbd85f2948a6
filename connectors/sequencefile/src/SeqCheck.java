// Reads SequenceFiles with Hadoop's own SequenceFile.Reader and prints, for each file given:
// its header fields, every record (key and value through their toString, UTF-8), and the number
// of records found when the file is read in splits of SPLIT bytes the way MapReduce's
// SequenceFileRecordReader reads them (sync(start), then records until past the end at a sync).
// Used by Spillway's tests as an independent check; `hadoop fs -text` checks the records too.
import java.io.PrintStream;
import java.util.Map;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.io.SequenceFile;
import org.apache.hadoop.io.Text;
import org.apache.hadoop.io.Writable;
import org.apache.hadoop.util.ReflectionUtils;

public class SeqCheck {
  public static void main(String[] args) throws Exception {
    PrintStream out = new PrintStream(System.out, true, "UTF-8");
    Configuration conf = new Configuration();
    long split = Long.parseLong(args[0]);
    for (int i = 1; i < args.length; i++) {
      Path path = new Path(args[i]);
      FileSystem fs = path.getFileSystem(conf);
      SequenceFile.Reader r = new SequenceFile.Reader(conf, SequenceFile.Reader.file(path));
      out.println("file " + args[i]);
      out.println("key_class " + r.getKeyClassName());
      out.println("value_class " + r.getValueClassName());
      out.println("compressed " + r.isCompressed());
      out.println("block_compressed " + r.isBlockCompressed());
      out.println("codec " + (r.getCompressionCodec() == null ? "none" : r.getCompressionCodec().getClass().getName()));
      for (Map.Entry<Text, Text> e : r.getMetadata().getMetadata().entrySet()) {
        out.println("meta " + e.getKey() + "=" + e.getValue());
      }
      Writable k = (Writable) ReflectionUtils.newInstance(r.getKeyClass(), conf);
      Writable v = (Writable) ReflectionUtils.newInstance(r.getValueClass(), conf);
      long n = 0;
      while (r.next(k, v)) {
        out.println("record " + k + "\t" + v);
        n++;
      }
      r.close();
      out.println("records " + n);
      long len = fs.getFileStatus(path).getLen();
      long total = 0;
      for (long start = 0; start < len; start += split) {
        long end = Math.min(start + split, len);
        SequenceFile.Reader s = new SequenceFile.Reader(conf, SequenceFile.Reader.file(path));
        if (start > s.getPosition()) {
          s.sync(start);
        }
        boolean more = s.getPosition() < end;
        while (more) {
          long pos = s.getPosition();
          boolean remaining = s.next(k, v);
          if (pos >= end && s.syncSeen()) {
            more = false;
          } else {
            more = remaining;
            if (remaining) {
              total++;
            }
          }
        }
        s.close();
      }
      out.println("split_records " + total);
    }
  }
}
